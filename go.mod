module github.com/tenantkit/tenantkit

go 1.26.0
