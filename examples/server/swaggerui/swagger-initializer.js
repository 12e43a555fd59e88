// Starts Swagger UI on this server's OpenAPI document. It lives in its own
// file so the page's Content-Security-Policy allows no inline script.
"use strict";
window.ui = SwaggerUIBundle({
  url: "openapi.json", // relative to /docs: the server's /openapi.json
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
  queryConfigEnabled: false,
});
