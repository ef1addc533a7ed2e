/* cuda_runtime.h - emulation: the API plus the device side (emu_device.h). */
#include "cuda_runtime_api.h"
#ifdef __cplusplus
#include "emu_device.h"
#endif
