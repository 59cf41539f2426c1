#include <nv_pool.h>

int main() {
    // 创建默认内存池
    nv_pool_t *pool = nv_pool_create_default();
    if (!pool) {
        return -1;
    }
    
    // 分配内存
    char *str = nv_pool_alloc(pool, 100);
    if (str) {
        strcpy(str, "Hello, Memory Pool!");
        printf("%s\n", str);
    }
    
    // 分配数组
    int *numbers = nv_pool_alloc_array(pool, int, 100);
    if (numbers) {
        for (int i = 0; i < 100; i++) {
            numbers[i] = i;
        }
    }
    
    // 打印统计信息
    nv_pool_print_stats(pool);
    
    // 清理
    nv_pool_destroy(pool);
    return 0;
}
