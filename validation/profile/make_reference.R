# Reference profile likelihoods of the Tweedie power from R's tweedie::tweedie_profile,
# written to reference.json beside this script.
#
#   Rscript validation/profile/make_reference.R      (R tweedie 3.0.17 and statmod on .libPaths())
#
# A seeded portfolio of 2,000 policies with three rating factors, an exposure offset and
# prior weights.  tweedie_profile(method = "series", phi.method = "mle", do.smooth = FALSE)
# fits glm.fit with the weights and the offset, but then takes phi and L without the
# weights: L = sum log dtweedie_series(y, mu, phi, p).  So for the weighted case the file
# also holds the profile with the weights as prior weights (row i with dispersion phi / w_i),
# from the same glm.fit means, with phi by optimize() to 1e-10 relative.
.libPaths(c("/tmp/Rlib", .libPaths()))
suppressMessages({library(tweedie); library(statmod); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- if (any(grepl("^--file=", args))) dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)]))) else "validation/profile"

set.seed(20240611)
n <- 2000
f1 <- sample(1:3, n, replace = TRUE, prob = c(0.5, 0.3, 0.2))
f2 <- sample(1:4, n, replace = TRUE)
f3 <- sample(1:2, n, replace = TRUE, prob = c(0.8, 0.2))
exposure <- round(runif(n, 0.2, 1), 4)
w <- round(runif(n, 0.5, 2), 3)
eta <- 5 + c(0, 0.3, -0.2)[f1] + c(0, 0.1, 0.25, -0.15)[f2] + c(0, 0.4)[f3]
mu_true <- exp(eta) * exposure
y <- rtweedie(n, mu = mu_true, phi = 40 / w, power = 1.45)
y <- signif(y, 10)
dat <- data.frame(y = y, f1 = factor(f1), f2 = factor(f2), f3 = factor(f3), off = log(exposure), w = w)
p.vec <- seq(1.2, 1.8, by = 0.1)

profile_r <- function(weights) {
  out <- tweedie_profile(y ~ f1 + f2 + f3, data = dat, p.vec = p.vec, weights = weights,
                         offset = off, method = "series", phi.method = "mle", do.smooth = FALSE)
  list(p = out$p, L = out$L, phi = out$phi, p_max = out$p.max, L_max = out$L.max)
}

prior_weight_profile <- function() {
  X <- model.matrix(~ f1 + f2 + f3, dat)
  res <- lapply(p.vec, function(p) {
    fit <- glm.fit(X, dat$y, weights = dat$w, offset = dat$off,
                   control = glm.control(epsilon = 1e-12, maxit = 100),
                   family = tweedie(var.power = p, link.power = 0))
    mu <- fitted(fit)
    nll <- function(t) -sum(log(dtweedie_series(dat$y, power = p, mu = mu, phi = exp(t) / dat$w)))
    t <- optimize(nll, c(log(1e-3), log(1e5)), tol = 1e-10)$minimum
    c(phi = exp(t), L = -nll(t))
  })
  list(p = p.vec, L = sapply(res, `[[`, "L"), phi = sapply(res, `[[`, "phi"))
}

ref <- list(
  note = "R tweedie 3.0.17 tweedie_profile(method='series', phi.method='mle', do.smooth=FALSE)",
  data = list(y = dat$y, f1 = f1, f2 = f2, f3 = f3, exposure = exposure, weights = w),
  unweighted = profile_r(NULL),
  weighted = profile_r(w),
  weighted_prior = prior_weight_profile()
)
writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE), file.path(here, "reference.json"))
