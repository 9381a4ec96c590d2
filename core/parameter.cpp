// Parameter roles as text (checkpoints, reports).
#include "core/parameter.h"

namespace lowbit {

const char* role_name(ParamRole role) {
  switch (role) {
    case ParamRole::kWeight:
      return "weight";
    case ParamRole::kBias:
      return "bias";
    case ParamRole::kNormScale:
      return "norm_scale";
    case ParamRole::kNormShift:
      return "norm_shift";
    case ParamRole::kQuantScale:
      return "quant_scale";
  }
  return "unknown";
}

}  // namespace lowbit
