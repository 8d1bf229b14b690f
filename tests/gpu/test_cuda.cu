#include "test_cuda.cpp"
