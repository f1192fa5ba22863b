module github.com/shmdict/shmdict/bench/bboltpeer

go 1.26.0

require (
	github.com/PowerDNS/lmdb-go v1.9.3
	github.com/shmdict/shmdict v0.0.0
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/shmdict/shmdict => ../..
