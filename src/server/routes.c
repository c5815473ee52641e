/* The route table.  tests/serve_test.py reads the ROUTE lines below to walk
 * every route (keep one route per line, in this form). */
#include "server/api.h"

#define ROUTE(method, path, prefix, pub, style, fn) {method, path, prefix, pub, style, fn}
#define O HTTP_STYLE_OPENAI
#define L HTTP_STYLE_OLLAMA

const http_route srv_routes[] = {
    ROUTE("GET", "/health", false, true, O, srv_h_health),
    ROUTE("GET", "/metrics", false, false, O, srv_h_metrics),
    ROUTE("GET", "/", false, false, O, srv_h_root),
    ROUTE("POST", "/v1/chat/completions", false, false, O, oai_h_chat),
    ROUTE("POST", "/v1/completions", false, false, O, oai_h_completions),
    ROUTE("GET", "/v1/models", false, false, O, oai_h_models),
    ROUTE("GET", "/v1/models/", true, false, O, oai_h_model),
    ROUTE("POST", "/api/chat", false, false, L, oll_h_chat),
    ROUTE("POST", "/api/generate", false, false, L, oll_h_generate),
    ROUTE("GET", "/api/tags", false, false, L, oll_h_tags),
    ROUTE("GET", "/api/ps", false, false, L, oll_h_ps),
    ROUTE("POST", "/api/show", false, false, L, oll_h_show),
    ROUTE("GET", "/api/version", false, false, L, oll_h_version),
};
const int srv_n_routes = (int)(sizeof srv_routes / sizeof srv_routes[0]);
