#include "serving/scheduler/live_limits.h"

namespace mlxm::serving {

LiveLimits& live_limits() {
  static LiveLimits limits;
  return limits;
}

}  // namespace mlxm::serving
