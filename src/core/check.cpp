#include "core/check.h"

#include <cstdio>
#include <cstdlib>

namespace mlxm::detail {

void check_failed(const char* file, int line, const char* expr, const char* msg) {
  std::fprintf(stderr, "MLXM_CHECK failed at %s:%d: %s%s%s\n", file, line, expr,
               msg ? " — " : "", msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace mlxm::detail
