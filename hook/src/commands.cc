#include "commands.h"
#include "loaded_engine.h"

#include <cc/command_interpreter.h>

namespace isc {
namespace remote_options {

void respond(isc::hooks::CalloutHandle& handle,
             const std::function<isc::data::ConstElementPtr(Engine&)>& work) {
    isc::data::ConstElementPtr response;
    try {
        Engine* engine = loadedEngine().get();
        if (!engine) {
            isc_throw(isc::InvalidOperation, "remote-options is not loaded");
        }
        response = work(*engine);
    } catch (const std::exception& ex) {
        response = isc::config::createAnswer(isc::config::CONTROL_RESULT_ERROR, ex.what());
    }
    handle.setArgument("response", response);
}

}  // namespace remote_options
}  // namespace isc
