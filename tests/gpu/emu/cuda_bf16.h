/* cuda_bf16.h - emulation: __nv_bfloat16 as a 16-bit pattern. */
#ifndef EMU_CUDA_BF16_H
#define EMU_CUDA_BF16_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
#include "runtime/core/rt_core.h"
#ifdef __cplusplus
}
#endif
#ifdef __cplusplus
struct __nv_bfloat16 {
    uint16_t x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : x(rt_bf16_from_double(f)) {}
    __nv_bfloat16(double f) : x(rt_bf16_from_double(f)) {}
    __nv_bfloat16(int f) : x(rt_bf16_from_double(f)) {}
    operator float() const { return (float)rt_bf16_to_double(x); }
};
static inline float __bfloat162float(__nv_bfloat16 h) { return (float)rt_bf16_to_double(h.x); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
static inline __nv_bfloat16 __double2bfloat16(double f) { return __nv_bfloat16(f); }
#endif
#endif
