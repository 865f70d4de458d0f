# Reference values of the Tweedie log density and distribution function from R's tweedie
# package (series methods), written to reference.csv beside this script.
#
#   Rscript validation/density/make_reference.R      (R tweedie 3.0.17 on .libPaths())
#
# For 1 < p < 2 the log density is the series of dtweedie_series in log form,
#   log f(y) = -y / tau - lambda - log(y) + log W(y),   log f(0) = -lambda,
# (dtweedie_series returns exp() of the same number, which underflows far in the tails);
# the distribution function is ptweedie_series.  At p = 1 and p = 2 dtweedie_series uses
# dpois(y / phi, mu / phi) / phi and dgamma(shape 1 / phi, scale mu phi): the same formulas
# are evaluated here with log = TRUE, with ppois and pgamma for the distribution function.
suppressMessages(library(tweedie))
args <- commandArgs(trailingOnly = FALSE)
here <- if (any(grepl("^--file=", args))) dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)]))) else "validation/density"

log_density <- function(y, mu, phi, p) {
  if (p == 1) return(dpois(y / phi, mu / phi, log = TRUE) - log(phi))
  if (p == 2) return(dgamma(y, shape = 1 / phi, scale = mu * phi, log = TRUE))
  lambda <- mu^(2 - p) / (phi * (2 - p))
  if (y == 0) return(-lambda)
  tau <- phi * (p - 1) * mu^(p - 1)
  logw <- tweedie:::dtweedie_logw_smallp(y = y, power = p, phi = phi)$logw
  -y / tau - lambda - log(y) + logw
}

distribution <- function(y, mu, phi, p) {
  if (p == 1) return(ppois(y / phi + 1e-7, mu / phi))
  if (p == 2) return(pgamma(y, shape = 1 / phi, scale = mu * phi))
  ptweedie_series(y, power = p, mu = mu, phi = phi)
}

grid <- expand.grid(y = c(0, 1e-3, 1e-2, 0.1, 1, 10, 100, 1e3, 1e4),
                    mu = c(1e-2, 0.1, 1, 10, 100, 1e3),
                    phi = c(1e-2, 0.1, 1, 10, 100),
                    p = c(1.01, 1.1, 1.3, 1.5, 1.7, 1.9, 1.99))
set.seed(20240501)
n <- 1000
random <- data.frame(y = 10^runif(n, -3, 4), mu = 10^runif(n, -2, 3), phi = 10^runif(n, -2, 2),
                     p = round(runif(n, 1.01, 1.99), 4))
# The ends: lattice points at p = 1 (y = phi k) and the Gamma at p = 2.
m <- 150
ends1 <- data.frame(mu = 10^runif(m, -2, 3), phi = 10^runif(m, -2, 1), p = 1)
ends1$y <- ends1$phi * round(runif(m, 0, 3) * ends1$mu / ends1$phi)
ends2 <- data.frame(y = 10^runif(m, -3, 4), mu = 10^runif(m, -2, 3), phi = 10^runif(m, -2, 0.7), p = 2)
cases <- rbind(grid, random, ends1[, names(grid)], ends2[, names(grid)])

cases$logpdf <- mapply(log_density, cases$y, cases$mu, cases$phi, cases$p)
cases$cdf <- mapply(distribution, cases$y, cases$mu, cases$phi, cases$p)
out <- file.path(here, "reference.csv")
cases[] <- lapply(cases, function(v) sprintf("%.17g", v))  # every double reads back exactly
write.csv(cases, out, row.names = FALSE, quote = FALSE)
cat("wrote", nrow(cases), "rows to", out, "\n")
