#!/usr/bin/env Rscript
# Regenerate the R outputs of validation cases from their inputs.
#
#   Rscript validation/r/make_reference.R validation/reference/lasso_gaussian [...]
#
# Needs the R packages HDtweedie (1.2) and jsonlite.  For each case folder it reads
#   x.csv.gz      design matrix, header row of column names
#   y.csv         response, one value per line
#   weights.csv, group.csv, pf.csv, lambda.csv, foldid.csv   (each optional)
#   params.json   {"params": {...HDtweedie() arguments...},
#                  "cv": {"nfolds": K, "pred_loss": [...]},  (optional)
#                  "coef_at_s": true}                          (optional)
# and writes
#   fit.json      lambda, b0, beta (one vector per lambda), df, npasses, jerr,
#                 printed, seconds, varnames -- or {"error": message}
#   cv.json       per pred.loss: lambda, cvm, cvsd, cvupper, cvlo, lambda_min,
#                 lambda_1se, name, seconds, coef_min, coef_1se (intercept first)
#   coef_s.json   s, coef (intercept first), link, response (first 10 rows)
# with numbers written to 17 significant digits.

suppressPackageStartupMessages({
  library(HDtweedie)
  library(jsonlite)
})

read_vector <- function(path) scan(path, what = numeric(), quiet = TRUE)

optional_vector <- function(dir, name) {
  path <- file.path(dir, name)
  if (file.exists(path)) read_vector(path) else NULL
}

write_out <- function(x, path) {
  # auto_unbox stays off so that length-1 vectors remain JSON arrays; scalars
  # are unboxed one by one.  I(17): 17 significant digits, enough to
  # round-trip every double.
  writeLines(toJSON(x, digits = I(17), auto_unbox = FALSE, na = "null"), path)
}

elapsed <- function(t0) unname((proc.time() - t0)["elapsed"])

# Both "lambda.factor" and "lambda_factor" spellings are accepted in params.json.
dotted <- function(lst) {
  if (length(lst)) names(lst) <- gsub("_", ".", names(lst), fixed = TRUE)
  lst
}

# The five interpolation points: above the grid, on it, halfway between two
# grid points, at the geometric mean of two grid points, below the grid.
interpolation_points <- function(lam) {
  K <- length(lam)
  if (K < 11) stop("coef_at_s needs a path of at least 11 lambdas, got ", K)
  k <- min(30, K - 1)
  c(2 * max(lam), lam[5], (lam[10] + lam[11]) / 2, sqrt(lam[k] * lam[k + 1]), min(lam) / 2)
}

run_case <- function(dir) {
  message("case ", dir)
  x <- as.matrix(read.csv(gzfile(file.path(dir, "x.csv.gz")), check.names = FALSE))
  storage.mode(x) <- "double"
  y <- read_vector(file.path(dir, "y.csv"))
  meta <- fromJSON(file.path(dir, "params.json"), simplifyVector = TRUE)

  args <- c(list(x = x, y = y), dotted(meta$params))
  weights <- optional_vector(dir, "weights.csv")
  group <- optional_vector(dir, "group.csv")
  pf <- optional_vector(dir, "pf.csv")
  lambda <- optional_vector(dir, "lambda.csv")
  if (!is.null(weights)) args$weights <- weights
  if (!is.null(group)) args$group <- as.integer(group)
  if (!is.null(pf)) args$pf <- pf
  if (!is.null(lambda)) args$lambda <- lambda

  # Fit; keep what HDtweedie prints (its jerr messages) and any warning text.
  out <- character(0)
  warns <- character(0)
  fit <- NULL
  t0 <- proc.time()
  err <- tryCatch({
    withCallingHandlers(
      out <- capture.output(fit <- do.call(HDtweedie, args)),
      warning = function(w) {
        warns <<- c(warns, conditionMessage(w))
        invokeRestart("muffleWarning")
      }
    )
    NULL
  }, error = function(e) conditionMessage(e))
  seconds <- elapsed(t0)

  if (!is.null(err)) {
    write_out(list(error = unbox(err)), file.path(dir, "fit.json"))
    return(invisible(NULL))
  }

  beta <- as.matrix(fit$beta)
  write_out(list(
    lambda = as.numeric(fit$lambda),
    b0 = as.numeric(fit$b0),
    beta = lapply(seq_len(ncol(beta)), function(k) unname(beta[, k])),
    df = as.integer(fit$df),
    npasses = unbox(as.integer(fit$npasses)),
    jerr = unbox(as.integer(fit$jerr)),
    printed = unbox(paste(c(out, warns), collapse = "\n")),
    seconds = unbox(seconds),
    varnames = colnames(x)
  ), file.path(dir, "fit.json"))

  if (isTRUE(meta$coef_at_s)) {
    s <- interpolation_points(fit$lambda)
    newx <- x[1:10, , drop = FALSE]
    # One s at a time: coef() given several s recycles its interpolation weights.
    coef_s <- lapply(s, function(si) as.numeric(as.matrix(coef(fit, s = si))))
    link <- lapply(s, function(si) as.numeric(predict(fit, newx = newx, s = si, type = "link")))
    response <- lapply(s, function(si)
      as.numeric(predict(fit, newx = newx, s = si, type = "response")))
    write_out(list(s = s, coef = coef_s, link = link, response = response),
              file.path(dir, "coef_s.json"))
  }

  if (!is.null(meta$cv)) {
    cv_meta <- dotted(meta$cv)
    foldid <- optional_vector(dir, "foldid.csv")
    cv_args <- args
    # cv.HDtweedie splits the weights by fold, so always pass them.
    if (is.null(cv_args$weights)) cv_args$weights <- rep(1, nrow(x))
    if (!is.null(foldid)) {
      cv_args$foldid <- as.integer(foldid)
    } else {
      cv_args$nfolds <- if (is.null(cv_meta$nfolds)) 5 else cv_meta$nfolds
    }
    cv_out <- list()
    for (loss in cv_meta$pred.loss) {
      t0 <- proc.time()
      cvfit <- do.call(cv.HDtweedie, c(cv_args, list(pred.loss = loss)))
      secs <- elapsed(t0)
      cv_out[[loss]] <- list(
        lambda = as.numeric(cvfit$lambda),
        cvm = as.numeric(cvfit$cvm),
        cvsd = as.numeric(cvfit$cvsd),
        cvupper = as.numeric(cvfit$cvupper),
        cvlo = as.numeric(cvfit$cvlo),
        lambda_min = unbox(cvfit$lambda.min),
        lambda_1se = unbox(cvfit$lambda.1se),
        name = unbox(unname(cvfit$name)),
        seconds = unbox(secs),
        coef_min = as.numeric(as.matrix(coef(cvfit, s = "lambda.min"))),
        coef_1se = as.numeric(as.matrix(coef(cvfit, s = "lambda.1se")))
      )
    }
    write_out(cv_out, file.path(dir, "cv.json"))
  }
  invisible(NULL)
}

main <- function() {
  dirs <- commandArgs(trailingOnly = TRUE)
  if (!length(dirs)) {
    stop("usage: Rscript make_reference.R CASE_DIR [CASE_DIR ...]")
  }
  for (d in dirs) run_case(d)
}

main()
