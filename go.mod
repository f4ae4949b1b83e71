module github.com/metlog/metlog

go 1.26

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/cenkalti/backoff/v5 v5.0.3
	github.com/go-json-experiment/json v1.27.2
	google.golang.org/protobuf v1.36.12
)
