// The engine of the loaded configuration, shared by the entry points (one file each): load.cc creates it,
// unload.cc releases it, the callouts and commands use it. Kea calls load/unload with no packet in flight.
#ifndef REMOTE_OPTIONS_LOADED_ENGINE_H
#define REMOTE_OPTIONS_LOADED_ENGINE_H

#include "engine.h"

#include <memory>
#include <string>

namespace isc {
namespace remote_options {

/// The loaded configuration's engine: set by load(), reset by unload() (and replaced by a load() without
/// an unload() in between). Empty while nothing is loaded.
std::unique_ptr<Engine>& loadedEngine();

/// A callout's unexpected exception, through the engine's rate-limited log (nothing when none is loaded).
void logCalloutError(const char* where, const std::string& what);

}  // namespace remote_options
}  // namespace isc

#endif
