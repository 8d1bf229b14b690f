#include "bench_gpu.cpp"
