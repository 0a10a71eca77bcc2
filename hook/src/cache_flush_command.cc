// The remote-options-cache-flush command: the backend asks for it when a machine's mode changes, so the
// next DISCOVER of that port gets a fresh answer instead of a cached one.
#include "commands.h"
#include "loaded_engine.h"
#include "log.h"

#include <cc/command_interpreter.h>
#include <cc/data.h>

#include <sstream>

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::hooks::CalloutHandle;
using namespace isc::remote_options;

const char* const isc::remote_options::FLUSH_COMMAND = "remote-options-cache-flush";

extern "C" {

int remote_options_cache_flush(CalloutHandle& handle) {
    respond(handle, [&handle](Engine& engine) {
        ConstElementPtr command;
        handle.getArgument("command", command);
        ConstElementPtr args;
        isc::config::parseCommand(args, command);
        size_t n = engine.flush(args);
        std::string scope = (args && !args->mapValue().empty()) ? args->str() : std::string("all");
        LOG_INFO(remote_options_logger, REMOTE_OPTIONS_CACHE_FLUSHED).arg(n).arg(scope);
        isc::data::ElementPtr out = Element::createMap();
        out->set("flushed", Element::create(static_cast<int64_t>(n)));
        std::ostringstream text;
        text << n << " cache entries flushed";
        return (isc::config::createAnswer(isc::config::CONTROL_RESULT_SUCCESS, text.str(), out));
    });
    return (0);
}

}  // extern "C"
