package main

// Process-level suites. The files named process_*_test.go hold the tests
// that reach past one in-process handler: they build and run the server
// binary, start a private PostgreSQL cluster, drive a browser, run the whole
// program (run, as main does), or load the shared PostgreSQL server and
// measure it from PostgreSQL's side or the process's. They share the
// harness (harness_test.go) with the rest of the package, which is why they
// are a file prefix and not a sub-package. Most skip with -short.
//
//	file                          needs                                    takes (-race, 2 loaded cores)
//	process_browser_test.go       Chromium ($CHROMIUM or chromium on PATH;  skips without Chromium
//	                              .ci/install-chromium)                     (fails under CI)
//	process_crash_test.go         go build of the server binary             ~67 s (TestKillDuringBurst 55 s)
//	process_flood_rss_test.go     go build of the server binary, /proc,     ~35 s
//	                              prlimit (TENANTKIT_FLOOD_BIN to reuse one)
//	process_flood_test.go         production argon2id hashing, in process   ~12 s
//	process_pgbudget_test.go      TENANTKIT_TEST_POSTGRES_DSN; creates 200  ~4 min: 40 s creating 200
//	                              databases on the shared server, and 200  databases, most of the rest dropping them;
//	                              schemas of one database beside them      the schemas' run, in parallel, far less
//	process_pgisolation_test.go   PostgreSQL server binaries (initdb,        ~16 s
//	                              pg_ctl) for a private cluster
//	process_pgrestart_test.go     PostgreSQL server binaries for a private   ~12 s, and ~8 s more for the
//	                              cluster that the test stops and restarts  schema per tenant case
//	process_shutdown_test.go      a loopback port; runs run in process      < 1 s
//
// Without PostgreSQL's server binaries or a DSN, the PostgreSQL suites skip,
// and fail when CI is set (internal/testenv, internal/pgtest). Run only
// these with:
//
//	go test -race -count=1 -run 'TestCrashRecovery|TestKillDuringBurst|TestPostgresRestartDuringLoad|TestPostgresConnectionBudget|TestLoginFlood|TestIdleConnections|TestDocsInBrowser|TestShutdown|TestRunRefuses|TestAttackTenantRole' -v ./examples/server
//
// The suites that run per backend (contract, attack, lifecycle, crash, CLI,
// ...) run SQLite, PostgreSQL with a database per tenant and PostgreSQL
// with a schema per tenant (backends in harness_test.go) as parallel
// subtests; -run '/postgres-schema' keeps only the last of them (tests
// without backend subtests still run).
//
// docker_test.go is not among them: Docker is not available here, so it
// only lints the Dockerfile and docker-compose.yml.
