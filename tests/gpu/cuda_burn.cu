// Keeps GPU 0 busy for SECONDS with MIB of device memory held, so that the agent's telemetry and
// the TUI's GPU panel have live figures to show (tests/node/test_gpu_host.py).
// Build: nvcc -O2 -cudart static -o cuda_burn cuda_burn.cu
// Usage: cuda_burn [SECONDS=60] [MIB=2048]
// Prints "device NAME, TOTAL MiB", then a progress line a second, then "done: ...".
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cuda_runtime.h>

__global__ void spin(float *data, size_t n, int rounds) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = data[i];
  for (int r = 0; r < rounds; ++r) x = x * 0.999999f + 0.5f;
  data[i] = x;
}

static void check(cudaError_t status, const char *what) {
  if (status != cudaSuccess) {
    fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(status));
    exit(1);
  }
}

static double since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 60.0;
  size_t mib = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 2048;
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  printf("device %s, %zu MiB\n", prop.name, (size_t)(prop.totalGlobalMem >> 20));
  fflush(stdout);

  size_t n = (mib << 20) / sizeof(float);
  float *data = NULL;
  check(cudaMalloc((void **)&data, n * sizeof(float)), "cudaMalloc");
  check(cudaMemset(data, 0, n * sizeof(float)), "cudaMemset");

  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long launches = 0;
  int reported = -1;
  double elapsed = 0.0;
  while (elapsed < seconds) {
    spin<<<(unsigned int)((n + 255) / 256), 256>>>(data, n, 64);
    check(cudaGetLastError(), "launch");
    check(cudaDeviceSynchronize(), "kernel");
    ++launches;
    elapsed = since(&start);
    if ((int)elapsed != reported) {
      reported = (int)elapsed;
      printf("t=%ds launches=%ld\n", reported, launches);
      fflush(stdout);
    }
  }
  check(cudaFree(data), "cudaFree");
  printf("done: %ld launches in %.1f s, %zu MiB held\n", launches, elapsed, mib);
  return 0;
}
