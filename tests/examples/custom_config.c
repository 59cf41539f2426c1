#include <nv_pool.h>

int main() {
    // 自定义配置
    nv_pool_config_t config = {
        .initial_size = 64 * 1024,     // 64KB
        .max_size = 10 * 1024 * 1024,  // 10MB
        .min_size = 8 * 1024,          // 8KB
        .auto_extend = 1,              // 启用自动扩展
        .zero_clear = 1,               // 启用内存清零
        .enable_stats = 1              // 启用统计
    };
    
    nv_pool_t *pool = nv_pool_create(&config);
    if (!pool) {
        return -1;
    }
    
    // 使用内存池...
    
    nv_pool_destroy(pool);
    return 0;
}
