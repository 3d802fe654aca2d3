package http

import (
	_ "embed"
	"encoding/json"
	"net/http"
)

//go:embed openapi.json
var openapiDoc []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiDoc)
}

// jsonRaw is a JSON value kept as is (a record body).
type jsonRaw = json.RawMessage
