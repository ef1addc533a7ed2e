/* rt_divmod.h - numpy's floor division and modulus for floats, written once
 * for the CPU kernels (runtime/dtrt_kernels.h) and the CUDA kernels
 * (runtime/cuda/dtk_cuda.cuh), which differ only in qualifiers and prefix.
 *
 * RT_DEFINE_DIVMOD(QUAL, PFX, T, SFX, FMOD, FLOOR, COPYSIGN) defines
 *   T PFX##_divmod_##SFX(T a, T b, T *modulus)   a // b, and a % b in *modulus
 *   T PFX##_floordiv_##SFX(T a, T b)              a // b
 *   T PFX##_mod_##SFX(T a, T b)                   a % b
 * with npy_divmod's semantics: the remainder takes the divisor's sign; by zero
 * the quotient is a / b and the remainder fmod's NaN. */
#ifndef DTC_RT_DIVMOD_H
#define DTC_RT_DIVMOD_H

#define RT_DEFINE_DIVMOD(QUAL, PFX, T, SFX, FMOD, FLOOR, COPYSIGN)        \
    QUAL T PFX##_divmod_##SFX(T a, T b, T *modulus)                        \
    {                                                                       \
        T mod = FMOD(a, b);                                                 \
        if (b == 0) {                                                       \
            *modulus = mod;                                                 \
            return a / b;                                                   \
        }                                                                   \
        T div = (a - mod) / b;                                              \
        if (mod != 0) {                                                     \
            if ((b < 0) != (mod < 0)) {                                     \
                mod += b;                                                   \
                div -= 1;                                                   \
            }                                                               \
        } else {                                                            \
            mod = COPYSIGN((T)0, b);                                        \
        }                                                                   \
        T q;                                                                \
        if (div != 0) {                                                     \
            q = FLOOR(div);                                                 \
            if (div - q > (T)0.5)                                           \
                q += 1;                                                     \
        } else {                                                            \
            q = COPYSIGN((T)0, a / b);                                      \
        }                                                                   \
        *modulus = mod;                                                     \
        return q;                                                           \
    }                                                                       \
    QUAL T PFX##_floordiv_##SFX(T a, T b) { T m; return PFX##_divmod_##SFX(a, b, &m); } \
    QUAL T PFX##_mod_##SFX(T a, T b) { T m; PFX##_divmod_##SFX(a, b, &m); return m; }

#endif
