# Time R HDtweedie's 5-fold cv.HDtweedie (p = 1.5, default grid) on a dataset of ../shared/bench.
# Usage: Rscript time_r_cv.R DATASET DATADIR FOLDFILE   (FOLDFILE: one fold label 1..K per row)
# Prints "seconds lambda_min lambda_1se".
.libPaths(c("/tmp/Rlib", .libPaths()))
suppressMessages({library(HDtweedie); library(data.table)})
a <- commandArgs(TRUE); ds <- a[1]; dd <- a[2]; ff <- a[3]
x <- as.matrix(fread(file.path(dd, paste0(ds, "_x.csv"))))
y <- fread(file.path(dd, paste0(ds, "_y.csv")))$y
wf <- file.path(dd, paste0(ds, "_w.csv")); w <- if (file.exists(wf)) fread(wf)$w else rep(1, length(y))
foldid <- fread(ff)$fold
invisible(gc())
t <- system.time(f <- cv.HDtweedie(x, y, p = 1.5, weights = w, foldid = foldid))[["elapsed"]]
cat(t, f$lambda.min, f$lambda.1se, "\n")
