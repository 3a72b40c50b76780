// Starts Swagger UI (from the package's files) on the API's OpenAPI document; every
// "Try it out" call carries the bearer token kept for this tab (shared with the dashboard).
(function () {
  "use strict";
  var TOKEN_KEY = "tradebus.token";

  function getToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function setToken(token) {
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // storage disabled
    }
    showState();
  }

  function showState() {
    document.getElementById("docs-token-state").textContent = getToken() ? "a token is set" : "no token";
  }

  var container = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: container.dataset.spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    displayRequestDuration: true,
    tryItOutEnabled: false,
    defaultModelsExpandDepth: 0,
    docExpansion: "list",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: function (request) {
      var token = getToken();
      var headers = request.headers || (request.headers = {});
      if (token && !headers.Authorization && !headers.authorization) headers.Authorization = "Bearer " + token;
      return request;
    },
  });

  var form = document.getElementById("docs-token");
  var input = document.getElementById("docs-token-input");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    setToken(input.value.trim());
    input.value = "";
  });
  document.getElementById("docs-token-clear").addEventListener("click", function () {
    setToken("");
    input.value = "";
  });
  showState();
})();
