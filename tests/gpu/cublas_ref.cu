/* cublas_ref.cu - the yardsticks of tests/gpu/run_on_gpu.sh's benchmark:
 * cuBLAS's own time for a row-major f32 GEMM (the same calls rt_cuda_matmul
 * makes: Sgemm, or SgemmStridedBatched for a batch), and the bandwidth of a
 * device-to-device cudaMemcpy.
 *
 *   cublas_ref gemm M N K BATCH TA TB   ->  "gemm M N K BATCH TA TB ms=X tflops=Y"
 *   cublas_ref memcpy BYTES             ->  "memcpy BYTES ms=X gbps=Y" (read + write)
 *
 * Times are the median of 20 runs after 5 warm-up runs, with CUDA events.
 * DT_TF32=1 allows TF32 tensor cores, as it does for compiled programs.
 */
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "cublas_ref: %s: %s\n", #x, cudaGetErrorString(e_));               \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)
#define BK(x)                                                                                  \
    do {                                                                                       \
        cublasStatus_t s_ = (x);                                                               \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                     \
            fprintf(stderr, "cublas_ref: %s: %s\n", #x, cublasGetStatusString(s_));            \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

template <class F> static double median_ms(F f)
{
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (int i = 0; i < 5; i++)
        f();
    std::vector<float> t;
    for (int i = 0; i < 20; i++) {
        CK(cudaEventRecord(a));
        f();
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        float ms;
        CK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms);
    }
    std::sort(t.begin(), t.end());
    return (t[9] + t[10]) / 2;
}

int main(int argc, char **argv)
{
    if (argc == 8 && !strcmp(argv[1], "gemm")) {
        long long M = atoll(argv[2]), N = atoll(argv[3]), K = atoll(argv[4]), nb = atoll(argv[5]);
        int ta = atoi(argv[6]), tb = atoi(argv[7]);
        float *a, *b, *c;
        CK(cudaMalloc(&a, sizeof(float) * M * K * nb));
        CK(cudaMalloc(&b, sizeof(float) * K * N * nb));
        CK(cudaMalloc(&c, sizeof(float) * M * N * nb));
        CK(cudaMemset(a, 0, sizeof(float) * M * K * nb));
        CK(cudaMemset(b, 0, sizeof(float) * K * N * nb));
        cublasHandle_t h;
        BK(cublasCreate(&h));
        if (getenv("DT_TF32") && !strcmp(getenv("DT_TF32"), "1"))
            BK(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH));
        const float one = 1, zero = 0;
        cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
        int lda = ta ? M : K, ldb = tb ? K : N;
        double ms = median_ms([&] {
            if (nb == 1)
                BK(cublasSgemm(h, opb, opa, N, M, K, &one, b, ldb, a, lda, &zero, c, N));
            else
                BK(cublasSgemmStridedBatched(h, opb, opa, N, M, K, &one, b, ldb, K * N, a, lda,
                                             M * K, &zero, c, N, M * N, nb));
        });
        printf("gemm %lld %lld %lld %lld %d %d ms=%.4f tflops=%.2f\n", M, N, K, nb, ta, tb, ms,
               2.0 * M * N * K * nb / (ms * 1e-3) / 1e12);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "memcpy")) {
        size_t n = (size_t)atoll(argv[2]);
        void *a, *b;
        CK(cudaMalloc(&a, n));
        CK(cudaMalloc(&b, n));
        CK(cudaMemset(a, 1, n));
        double ms = median_ms([&] { CK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice)); });
        printf("memcpy %zu ms=%.4f gbps=%.1f\n", n, ms, 2.0 * n / (ms * 1e-3) / 1e9);
        return 0;
    }
    fprintf(stderr, "usage: cublas_ref gemm M N K BATCH TA TB | cublas_ref memcpy BYTES\n");
    return 2;
}
