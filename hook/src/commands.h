// The hook's control commands (one file each), registered by load().
#ifndef REMOTE_OPTIONS_COMMANDS_H
#define REMOTE_OPTIONS_COMMANDS_H

#include <cc/data.h>
#include <hooks/callout_handle.h>

#include <functional>

namespace isc {
namespace remote_options {

class Engine;

/// Runs one command's work on the loaded engine and sets the command's response: ``work``'s answer, or an
/// error answer naming what went wrong (nothing loaded, a bad argument, an exception). Never throws.
void respond(isc::hooks::CalloutHandle& handle,
             const std::function<isc::data::ConstElementPtr(Engine&)>& work);

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
