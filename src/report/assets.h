// src/report/assets.h: the browser libraries embedded at build time (assets_generated.cpp, written
// by embed_assets.cmake from tools/node/node_modules). Minified UMD builds; each defines a global
// (vega, vegaLite, vegaEmbed) when run in a classic <script> element.
#pragma once

#include <string_view>

namespace synpref::report::assets {

extern const std::string_view kVegaJs;
extern const std::string_view kVegaLiteJs;
extern const std::string_view kVegaEmbedJs;
extern const std::string_view kVegaVersion;
extern const std::string_view kVegaLiteVersion;
extern const std::string_view kVegaEmbedVersion;

}  // namespace synpref::report::assets
