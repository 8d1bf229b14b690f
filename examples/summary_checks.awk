# Checks the summary.csv of an example run by the tests (examples/CMakeLists.txt) beyond its line
# count: every value that must be a number is a finite one, and each lies where it must.
#   awk -F, -v kind=shattered -f summary_checks.awk <out>/summary.csv   (11_shattered_gradients)
#   awk -F, -v kind=prune -f summary_checks.awk <out>/summary.csv       (12_wide_then_prune)
# Prints each problem with the file and line; exit status 1 when there is one.

# Column i as a number, or a problem when it is not a finite one (nan, inf, empty, text).
function num(i) {
  if ($i !~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/) bad("column " i " ('" $i "') is not a finite number")
  return $i + 0
}
function bad(message) {
  print FILENAME ":" FNR ": " message
  fails++
}
# An accuracy in percent: at least one of the test images right (a classifier stuck at 0 is a bug).
function percent(i, name,    v) {
  v = num(i)
  if (!(v > 0 && v <= 100)) bad(name " " $i " outside (0, 100]")
}

FNR == 1 { next }
kind == "shattered" {  # at initialization: net,kind,depth,width,parameters,initial_loss,alpha_init,low,high,cosine,low,high
  rows++
  if (num(5) <= 0) bad("parameters " $5)
  loss = num(6); alpha = num(7); alpha_low = num(8); alpha_high = num(9)
  cosine = num(10); cosine_low = num(11); cosine_high = num(12)
  # cross-entropy of an untrained 10-class net: near ln 10 = 2.3
  if (!(loss > 1 && loss < 5)) bad("initial_loss " $6 " outside (1, 5)")
  if (!(alpha_low <= alpha && alpha <= alpha_high)) bad("alpha_init " $7 " outside its interval [" $8 ", " $9 "]")
  if (!(cosine_low <= cosine && cosine <= cosine_high)) bad("cosine_init " $10 " outside its interval [" $11 ", " $12 "]")
  if (!(cosine >= -1 && cosine <= 1)) bad("cosine_init " $10 " outside [-1, 1]")
}
kind == "prune" {  # run,parameters,acc_pruned,loss_pruned,acc_recalibrated,loss_recalibrated,train_loss,train_acc,test_loss,test_acc
  rows++
  if (FNR == 2) base = num(2)  # the narrow net trained from scratch
  if (!(num(7) > 0)) bad("train_loss " $7)
  if (!(num(9) > 0)) bad("test_loss " $9)
  percent(8, "train_accuracy")
  percent(10, "test_accuracy")
  if ($1 ~ /_from_/) {  # pruned from the wide net to the narrow one's shape
    if (num(2) != base) bad($1 ": " $2 " parameters, expected the narrow net's " base)
    if (!(num(4) > 0 && num(6) > 0)) bad($1 ": losses after pruning " $4 ", " $6)
    if (!(num(3) >= 0 && num(3) <= 100 && num(5) >= 0 && num(5) <= 100)) bad($1 ": accuracies " $3 ", " $5)
  } else if (FNR > 2 && !(num(2) > base)) {
    bad($1 ": " $2 " parameters, expected more than the narrow net's " base)
  }
}
END {
  if (kind != "shattered" && kind != "prune") bad("kind must be shattered or prune, got '" kind "'")
  if (rows == 0) bad("no rows")
  exit fails > 0
}
