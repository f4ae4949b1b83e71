// Package all compiles in every plugin metlog ships: programs that load
// configurations (metlogd, metlog check) import it for its side effects.
package all

import (
	_ "github.com/metlog/metlog/plugins/codecs"          // encoders and decoders
	_ "github.com/metlog/metlog/plugins/inputs/file"     // file_input
	_ "github.com/metlog/metlog/plugins/inputs/http"     // http_input
	_ "github.com/metlog/metlog/plugins/inputs/net"      // udp_input, tcp_input, unix_input
	_ "github.com/metlog/metlog/plugins/outputs/file"    // file_output
	_ "github.com/metlog/metlog/plugins/outputs/forward" // tcp_output, udp_output
	_ "github.com/metlog/metlog/plugins/outputs/stdout"  // stdout_output
)
