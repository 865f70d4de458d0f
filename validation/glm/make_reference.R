# Reference fits of unpenalised log-link Tweedie GLMs from R's glm, written beside this script:
#   data.csv        the design (treatment-coded factors as "factor=level" columns), responses,
#                   prior weights and offset;
#   reference.json  per power: coefficients, standard errors (model-based and sandwich HC0),
#                   dispersion, deviance, null deviance, AIC / log-likelihood, and per factor
#                   the anova (reduced vs full) and drop1 tests.
#
#   Rscript validation/glm/make_reference.R   (statmod, tweedie, sandwich, jsonlite on .libPaths())
#
# Families: poisson() at p = 1, statmod::tweedie(var.power = 1.5, link.power = 0), and
# Gamma(link = "log") at p = 2, each with prior weights and offset log(exposure).
.libPaths(c("/tmp/Rlib", .libPaths()))
suppressMessages({library(statmod); library(tweedie); library(sandwich); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- if (any(grepl("^--file=", args))) dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)]))) else "validation/glm"

set.seed(20240611)
n <- 400
area <- factor(sample(c("A", "B", "C", "D"), n, replace = TRUE, prob = c(0.4, 0.3, 0.2, 0.1)))
vehicle <- factor(sample(c("car", "van", "truck"), n, replace = TRUE, prob = c(0.6, 0.3, 0.1)),
                  levels = c("car", "van", "truck"))
age <- round(runif(n, 18, 80))
exposure <- round(runif(n, 0.1, 1), 3)
w <- round(runif(n, 0.5, 2), 3)
eta <- -1 + c(A = 0, B = 0.2, C = 0.5, D = 0.1)[as.character(area)] +
  c(car = 0, van = 0.3, truck = -0.2)[as.character(vehicle)] - 0.01 * (age - 45)
mu <- exposure * exp(eta)
y_p1 <- rpois(n, mu)
y_p15 <- rtweedie(n, mu = mu * 50, phi = 20 / w, power = 1.5)
y_p2 <- rgamma(n, shape = w / 0.8, scale = 1000 * mu * 0.8 / w)
d <- data.frame(area, vehicle, age, exposure, w, y_p1, y_p15, y_p2)

X <- model.matrix(~ area + vehicle + age, d)[, -1]
colnames(X) <- c("area=B", "area=C", "area=D", "vehicle=van", "vehicle=truck", "age")
groups <- c("area", "area", "area", "vehicle", "vehicle", "age")
out <- data.frame(X, check.names = FALSE, y_p1 = y_p1, y_p15 = y_p15, y_p2 = y_p2,
                  weight = w, offset = log(exposure))
write.csv(out, file.path(here, "data.csv"), row.names = FALSE)

terms_of <- c("area", "vehicle", "age")
# glm's test on the relative deviance change leaves the coefficients accurate to ~1e-8 only;
# restarting from the previous solution until they stop moving takes them to rounding level.
glm_of <- function(resp, rhs, family, weighted = TRUE) {
  fit_from <- function(start) eval(bquote(glm(
    .(as.formula(paste(resp, "~", rhs))), family = .(family), data = d,
    weights = .(if (weighted) quote(w) else NULL), offset = log(exposure), start = .(start),
    control = glm.control(epsilon = 1e-14, maxit = 100))))
  fit <- fit_from(NULL)
  for (i in 1:50) {
    old <- coef(fit)
    fit <- fit_from(old)
    if (max(abs(coef(fit) - old)) < 1e-15) break
  }
  fit
}
fit_one <- function(resp, family, test) {
  fit <- glm_of(resp, paste(terms_of, collapse = " + "), family)
  s <- summary(fit)
  tests <- lapply(terms_of, function(term) {
    red <- glm_of(resp, paste(setdiff(terms_of, term), collapse = " + "), family)
    a <- anova(red, fit, test = test)
    list(df = a$Df[2], deviance_change = a$Deviance[2],
         statistic = if (test == "F") a$F[2] else a$Deviance[2] / s$dispersion,
         p_value = a[2, ncol(a)])
  })
  names(tests) <- terms_of
  dr <- drop1(fit, test = test)
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))),
       se_hc0 = unname(sqrt(diag(vcovHC(fit, type = "HC0")))),
       stat = unname(s$coefficients[, 3]), p_value = unname(s$coefficients[, 4]),
       dispersion = s$dispersion, deviance = deviance(fit), null_deviance = fit$null.deviance,
       df_residual = fit$df.residual, aic = fit$aic, anova = tests,
       drop1 = list(term = rownames(dr)[-1], deviance = dr$Deviance[-1],
                    statistic = dr[-1, ncol(dr) - 1], p_value = dr[-1, ncol(dr)]),
       fit = fit)
}

# The Tweedie log-likelihood with row dispersion phi / w and the maximum-likelihood phi.
tweedie_ml <- function(fit, p) {
  y <- fit$y; mu <- fitted(fit); wt <- fit$prior.weights
  ll <- function(t) sum(log(dtweedie(y = y, mu = mu, phi = exp(t) / wt, power = p)))
  t0 <- log(sum(wt * (y - mu)^2 / mu^p) / length(y))
  opt <- optimize(ll, c(t0 - 3, t0 + 3), maximum = TRUE, tol = 1e-10)
  list(phi = exp(opt$maximum), loglik = opt$objective,
       aic = -2 * opt$objective + 2 * (fit$rank + 1))
}

p1 <- fit_one("y_p1", poisson(), "Chisq")
quasi <- summary(glm_of("y_p1", paste(terms_of, collapse = " + "), quasipoisson()))
p1$quasi <- list(se = unname(quasi$coefficients[, 2]), dispersion = quasi$dispersion)
p1$loglik <- as.numeric(logLik(p1$fit))
p15 <- fit_one("y_p15", tweedie(var.power = 1.5, link.power = 0), "F")
ml <- tweedie_ml(p15$fit, 1.5)
p15$phi_ml <- ml$phi; p15$loglik <- ml$loglik; p15$aic <- ml$aic
p15$aic_tweedie_package <- tweedie_AIC(p15$fit, verbose = FALSE)
# With unit weights the convention of tweedie_AIC at a given phi is the same likelihood.
unit <- glm_of("y_p15", paste(terms_of, collapse = " + "), tweedie(var.power = 1.5, link.power = 0),
              weighted = FALSE)
ml_unit <- tweedie_ml(unit, 1.5)
p15$unit_weights <- list(coef = unname(coef(unit)), phi_ml = ml_unit$phi, aic = ml_unit$aic,
                         aic_tweedie_package_at_phi_ml = tweedie_AIC(unit, dispersion = ml_unit$phi))
p2 <- fit_one("y_p2", Gamma(link = "log"), "F")
p2$loglik <- as.numeric(logLik(p2$fit))

strip <- function(x) { x$fit <- NULL; x }
ref <- list(features = colnames(X), groups = groups, r_version = R.version.string,
            statmod_version = as.character(packageVersion("statmod")),
            tweedie_version = as.character(packageVersion("tweedie")),
            fits = list("1" = strip(p1), "1.5" = strip(p15), "2" = strip(p2)))
write_json(ref, file.path(here, "reference.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
