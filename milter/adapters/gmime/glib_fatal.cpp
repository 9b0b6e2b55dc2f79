// glib_fatal.cpp - see glib_fatal.hpp.
#include "adapters/gmime/glib_fatal.hpp"

#include <glib.h>

#include <cstring>
#include <mutex>

namespace staffel::adapters {
namespace {

GlibFatalHandler fatal_handler = nullptr;
std::once_flag installed;

GLogWriterOutput writer(GLogLevelFlags level, const GLogField* fields, gsize n_fields,
                        gpointer user_data) {
    if ((level & (G_LOG_LEVEL_ERROR | G_LOG_FLAG_FATAL)) != 0 && fatal_handler != nullptr) {
        const char* message = "(no message)";
        for (gsize i = 0; i < n_fields; ++i) {
            if (std::strcmp(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0) {
                message = static_cast<const char*>(fields[i].value);
            }
        }
        fatal_handler(message);
    }
    return g_log_writer_default(level, fields, n_fields, user_data);
}

}  // namespace

void on_glib_fatal(GlibFatalHandler handler) {
    std::call_once(installed, [handler] {
        fatal_handler = handler;
        g_log_set_writer_func(writer, nullptr, nullptr);
    });
}

}  // namespace staffel::adapters
