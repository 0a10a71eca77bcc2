// The hook's logger ("remote-options", a child of the server's logger) and its messages.
#ifndef REMOTE_OPTIONS_LOG_H
#define REMOTE_OPTIONS_LOG_H

#include <log/log_dbglevels.h>
#include <log/logger.h>
#include <log/macros.h>

#include "remote_options_messages.h"

namespace isc {
namespace remote_options {

extern isc::log::Logger remote_options_logger;

}  // namespace remote_options
}  // namespace isc

#endif
