# The same model served by R plumber without a ledger: prediction = exposure * exp(b0 + x . b).
# Usage: Rscript bench_service_plumber.R MODEL.json PORT
library(plumber)
library(jsonlite)
args <- commandArgs(trailingOnly = TRUE)
model <- fromJSON(args[1], simplifyVector = FALSE)
coefs <- unlist(model$coefficients)
intercept <- model$intercept
inputs <- model$inputs

predict_one <- function(record, exposure) {
  eta <- intercept
  for (inp in inputs) {
    v <- record[[inp$name]]
    if (inp$kind == "factor") {
      f <- inp$features[[as.character(v)]]
      if (!is.null(f)) eta <- eta + coefs[[f]]
    } else {
      eta <- eta + coefs[[inp$feature]] * as.numeric(v)
    }
  }
  exposure * exp(eta)
}

pr() |>
  pr_post("/predict", function(req) {
    body <- fromJSON(req$postBody, simplifyVector = FALSE)
    e <- if (is.null(body$exposure)) 1 else body$exposure
    list(policy_id = body$policy_id, prediction = predict_one(body$record, e))
  }, serializer = serializer_unboxed_json(digits = NA)) |>
  pr_get("/health", function() list(status = "ok")) |>
  pr_run(host = "127.0.0.1", port = as.integer(args[2]))
