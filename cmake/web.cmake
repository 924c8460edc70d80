# The web UI (web/, Svelte 5 + Vite + TypeScript). `npm ci` runs when package.json or the
# lockfile changed, `npm run build` (svelte-check, then vite) when a source changed; the output
# is web/dist/ (git-ignored), which `mlx-manager serve` serves by default. Off with
# -DMLXM_WEB=OFF or when npm is missing (the UI tests are then not registered).
option(MLXM_WEB "Build the web UI (web/ -> web/dist) with npm" ON)
set(MLXM_WEB_DIR ${PROJECT_SOURCE_DIR}/web)
set(MLXM_WEB_BUILT OFF)
if(MLXM_WEB)
  find_program(MLXM_NPM npm)
  if(NOT MLXM_NPM)
    message(WARNING "MLX Manager: npm not found; the web UI is not built (MLXM_WEB=OFF to silence)")
  else()
    file(GLOB_RECURSE web_srcs CONFIGURE_DEPENDS ${MLXM_WEB_DIR}/src/*)
    set(web_config ${MLXM_WEB_DIR}/index.html ${MLXM_WEB_DIR}/vite.config.ts
      ${MLXM_WEB_DIR}/svelte.config.js ${MLXM_WEB_DIR}/tsconfig.json)
    set(web_installed ${MLXM_WEB_DIR}/node_modules/.mlxm-installed)
    add_custom_command(OUTPUT ${web_installed}
      COMMAND ${MLXM_NPM} ci --no-audit --no-fund --loglevel=error
      COMMAND ${CMAKE_COMMAND} -E touch ${web_installed}
      DEPENDS ${MLXM_WEB_DIR}/package.json ${MLXM_WEB_DIR}/package-lock.json
      WORKING_DIRECTORY ${MLXM_WEB_DIR}
      COMMENT "web: npm ci"
      VERBATIM)
    add_custom_command(OUTPUT ${MLXM_WEB_DIR}/dist/index.html
      COMMAND ${MLXM_NPM} run build --silent
      DEPENDS ${web_installed} ${web_srcs} ${web_config}
      WORKING_DIRECTORY ${MLXM_WEB_DIR}
      COMMENT "web: svelte-check + vite build -> web/dist"
      VERBATIM USES_TERMINAL)
    add_custom_target(web_ui ALL DEPENDS ${MLXM_WEB_DIR}/dist/index.html)
    set(MLXM_WEB_BUILT ON)
  endif()
endif()
