// The remote-options-stats command: the engine's counters (also published as Kea statistics), the cache
// size and the in-flight limit in effect.
#include "commands.h"
#include "loaded_engine.h"

#include <cc/command_interpreter.h>
#include <cc/data.h>

using isc::data::Element;
using isc::hooks::CalloutHandle;
using namespace isc::remote_options;

const char* const isc::remote_options::STATS_COMMAND = "remote-options-stats";

extern "C" {

int remote_options_stats(CalloutHandle& handle) {
    respond(handle, [](Engine& engine) {
        engine.publish();
        isc::data::ElementPtr out = engine.counters();
        out->set("cache-entries", Element::create(static_cast<int64_t>(engine.cache().size())));
        out->set("backend-in-flight-limit", Element::create(static_cast<int64_t>(engine.effectiveConcurrency())));
        return (isc::config::createAnswer(isc::config::CONTROL_RESULT_SUCCESS, "remote-options counters", out));
    });
    return (0);
}

}  // extern "C"
