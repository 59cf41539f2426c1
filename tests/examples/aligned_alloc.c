#include <nv_pool.h>

int main() {
    nv_pool_t *pool = nv_pool_create_default();
    if (!pool) {
        return -1;
    }
    
    // 分配64字节对齐的内存
    void *aligned_ptr = nv_pool_align(pool, 1024, 64);
    if (aligned_ptr) {
        printf("对齐地址: 0x%lx\n", (unsigned long)aligned_ptr);
    }
    
    nv_pool_destroy(pool);
    return 0;
}
