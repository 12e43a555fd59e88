package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed" // the OpenAPI document and Swagger UI are part of the binary
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The API's own documentation, embedded in the binary: the OpenAPI document
// (hand-written; docs_test.go holds it to the routes and to real responses)
// and Swagger UI (vendored from the swagger-ui-dist npm package; see
// swaggerui/README.md). These are read-only data, never written.
var (
	//go:embed openapi.json
	openAPIJSON []byte
	//go:embed swaggerui/index.html
	docsIndexHTML []byte
	//go:embed swaggerui/swagger-initializer.js
	swaggerInitJS []byte
	//go:embed swaggerui/swagger-ui-bundle.js.gz
	swaggerBundleJSGz []byte
	//go:embed swaggerui/swagger-ui.css
	swaggerCSS []byte
	//go:embed swaggerui/LICENSE
	swaggerLicense []byte
	//go:embed swaggerui/NOTICE
	swaggerNotice []byte
	//go:embed swaggerui/swagger-ui-bundle.js.LICENSE.txt
	swaggerBundleLicenses []byte
)

// docsCSP is the Content-Security-Policy of the Swagger UI page: scripts,
// styles, fonts and requests from this origin only, images from this origin
// or data: URLs (the stylesheet's icons), no plugins, frames, <base> or
// form posts elsewhere, and no framing of the page. Swagger UI sets its
// inline styles through the CSSOM, which style-src does not govern, so no
// 'unsafe-inline' is needed.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Content types of the documentation's files.
const (
	ctJSON = "application/json"
	ctHTML = "text/html; charset=utf-8"
	ctJS   = "text/javascript; charset=utf-8"
	ctCSS  = "text/css; charset=utf-8"
	ctText = "text/plain; charset=utf-8"
)

// addDocsRoutes registers the API's own documentation: the OpenAPI
// document and the Swagger UI page.
func addDocsRoutes(handle func(pattern string, h http.Handler)) {
	handle("GET /openapi.json", newAsset(openAPIJSON, ctJSON, false))
	page := newAsset(docsIndexHTML, ctHTML, false)
	page.csp = docsCSP
	handle("GET /docs", page)

	files := map[string]*asset{
		"swagger-ui-bundle.js":             newAsset(swaggerBundleJSGz, ctJS, true),
		"swagger-ui.css":                   newAsset(swaggerCSS, ctCSS, false),
		"swagger-initializer.js":           newAsset(swaggerInitJS, ctJS, false),
		"LICENSE":                          newAsset(swaggerLicense, ctText, false),
		"NOTICE":                           newAsset(swaggerNotice, ctText, false),
		"swagger-ui-bundle.js.LICENSE.txt": newAsset(swaggerBundleLicenses, ctText, false),
	}
	handle("GET /docs/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[r.PathValue("file")]
		if !ok {
			writeProblem(w, problem{Status: http.StatusNotFound})
			return
		}
		a.ServeHTTP(w, r)
	}))
}

// asset is one embedded file served as it is, through http.ServeContent
// (conditional requests on the ETag, Range, HEAD, Content-Length). A
// gzipped asset is stored gzip-compressed: it is sent so, with
// Content-Encoding: gzip, to clients that accept gzip, and decompressed
// (once, on the first such request) for the others.
type asset struct {
	body        []byte
	contentType string
	csp         string // Content-Security-Policy, for pages
	gzipped     bool
	etag        string // strong validator of body
	plain       func() ([]byte, error)
}

func newAsset(body []byte, contentType string, gzipped bool) *asset {
	sum := sha256.Sum256(body)
	a := &asset{body: body, contentType: contentType, gzipped: gzipped, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	if gzipped {
		a.plain = sync.OnceValues(func() ([]byte, error) {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return nil, err
			}
			return io.ReadAll(zr)
		})
	}
	return a
}

func (a *asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	if a.csp != "" {
		h.Set("Content-Security-Policy", a.csp)
		h.Set("Referrer-Policy", "no-referrer")
	}
	etag, body := a.etag, a.body
	if a.gzipped {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			etag = strings.TrimSuffix(etag, `"`) + `-gzip"`
		} else {
			plain, err := a.plain()
			if err != nil { // an embedded file docs_test.go reads whole: cannot happen
				writeProblem(w, problem{Status: http.StatusInternalServerError})
				return
			}
			body = plain
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header (all its values)
// accepts gzip: gzip or x-gzip listed with a q-value above 0, or, when
// neither is listed, * with a q-value above 0.
func acceptsGzip(values []string) bool {
	gzipQ, anyQ := -1.0, -1.0
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, val, ok := strings.Cut(p, "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil {
						f = 0
					}
					q = f
				}
			}
			switch name = strings.TrimSpace(name); {
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				gzipQ = max(gzipQ, q)
			case name == "*":
				anyQ = max(anyQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return anyQ > 0
}
