package pipeline

// NewServicesForTest returns an empty Services for the tests of package
// pipeline_test.
func NewServicesForTest() *Services { return newServices() }
