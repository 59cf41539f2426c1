/*
 * nv_error.h - libnv return codes.
 *
 * Every libnv function that can fail returns NV_OK (0) on success or one of
 * the negative codes below. The codes are distinct so a caller can switch on
 * them; nv_strerror() gives the text for logs.
 */
#ifndef NV_ERROR_H
#define NV_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#define NV_OK 0       /* success */
#define NV_ERROR (-1) /* generic failure: bad argument, foreign pointer, refused request */
#define NV_ENOMEM (-2) /* the system (or a configured limit) could not supply memory */
#define NV_EINVAL (-3) /* an argument is out of its documented range */
#define NV_ECORRUPT (-4) /* a consistency check found damaged memory */

/* Text for a return code: a static string, never NULL. Unknown codes give
 * "unknown libnv error code". */
const char *nv_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* NV_ERROR_H */
