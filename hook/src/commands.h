// The hook's control commands (one file each), registered by load().
#ifndef REMOTE_OPTIONS_COMMANDS_H
#define REMOTE_OPTIONS_COMMANDS_H

#include <hooks/callout_handle.h>

namespace isc {
namespace remote_options {

extern const char* const FLUSH_COMMAND;   // "remote-options-cache-flush"
extern const char* const STATS_COMMAND;   // "remote-options-stats"

}  // namespace remote_options
}  // namespace isc

extern "C" {
/// remote-options-cache-flush [{"sub82_1": ..., ...}]: drops cached answers (all, or one port's).
int remote_options_cache_flush(isc::hooks::CalloutHandle& handle);
/// remote-options-stats: the engine's counters, cache size and effective in-flight limit.
int remote_options_stats(isc::hooks::CalloutHandle& handle);
}

#endif
