// The unload entry point: log the engine's totals, release it (its cache and fetcher with it) and libcurl.
#include "curl_global.h"
#include "loaded_engine.h"
#include "log.h"

#include <hooks/hooks.h>

using namespace isc::remote_options;

extern "C" {

int unload() {
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
