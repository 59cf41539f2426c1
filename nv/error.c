/* nv/error.c - text for libnv return codes. */
#include "nv_error.h"

const char *nv_strerror(int code)
{
    switch (code) {
    case NV_OK:
        return "success";
    case NV_ERROR:
        return "operation failed";
    case NV_ENOMEM:
        return "out of memory";
    case NV_EINVAL:
        return "invalid argument";
    case NV_ECORRUPT:
        return "memory corruption detected";
    default:
        return "unknown libnv error code";
    }
}
