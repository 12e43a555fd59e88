# syntax=docker/dockerfile:1
# The reference server as a static, non-root image. Build: docker build -t tenantkit .
# Nothing here is needed to build or test tenantkit; see README.md.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (no cgo): SQLite is github.com/ncruces/go-sqlite3 on a WebAssembly runtime.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/server ./examples/server \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/server /server
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV DATA_DIR=/data ADDR=:8000
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["/server"]
CMD ["serve"]
