/* cuda_fp16.h - emulation: __half as a 16-bit pattern, converted with the
 * runtime's own round-to-nearest-even helpers (runtime/core). */
#ifndef EMU_CUDA_FP16_H
#define EMU_CUDA_FP16_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
#include "runtime/core/rt_core.h"
#ifdef __cplusplus
}
#endif
#ifdef __cplusplus
struct __half {
    uint16_t x;
    __half() = default;
    __half(float f) : x(rt_f16_from_double(f)) {}
    __half(double f) : x(rt_f16_from_double(f)) {}
    __half(int f) : x(rt_f16_from_double(f)) {}
    operator float() const { return (float)rt_f16_to_double(x); }
};
static inline float __half2float(__half h) { return (float)rt_f16_to_double(h.x); }
static inline __half __float2half_rn(float f) { return __half(f); }
static inline __half __double2half(double f) { return __half(f); }
#endif
#endif
