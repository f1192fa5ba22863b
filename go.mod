module github.com/shmdict/shmdict

go 1.26.0

require (
	github.com/cespare/xxhash/v2 v2.3.0
	golang.org/x/sys v0.49.0
)

require github.com/google/go-cmp v0.7.0
