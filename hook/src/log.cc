#include "log.h"

namespace isc {
namespace remote_options {

isc::log::Logger remote_options_logger("remote-options");

}  // namespace remote_options
}  // namespace isc
