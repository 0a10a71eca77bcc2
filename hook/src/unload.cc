// The unload entry point: stop the parked path (Kea 2.6+), log the engine's totals, release it (its cache and fetcher with it) and libcurl.
#include "curl_global.h"
#include "loaded_engine.h"
#include "loaded_parker.h"
#include "log.h"

#include <hooks/hooks.h>

using namespace isc::remote_options;

extern "C" {

int unload() {
    // The parked path first: its thread stopped and its packets dropped while the engine still exists.
    size_t dropped = stopParkedPath();
    if (dropped) {
        LOG_INFO(remote_options_logger, REMOTE_OPTIONS_PARKED_DROPPED).arg(dropped);
    }
    std::unique_ptr<Engine>& engine = loadedEngine();
    if (engine) {
        LOG_INFO(remote_options_logger, REMOTE_OPTIONS_UNLOADED)
            .arg(engine->counter(BACKEND_CALLS)).arg(engine->counter(CACHE_HITS))
            .arg(engine->counter(FAILURES));
        engine.reset();
    }
    releaseCurl();
    return (0);
}

}  // extern "C"
