/** Public API of the config layer: only cli/ calls it; everything else receives the frozen KuryrConfig. */
export type * from './types.js';
export { loadConfig, deepFreeze, type LoadOptions } from './load.js';
export { parseServerArgs, formatServerArgsHelp, SERVER_ARGS_HELP, type ServerArgs, type ServerArgHelp, type ConfigSourceArg } from './args.js';
export { DEFAULT_CONFIG_FILES, DEFAULT_CONFIG_DIRS, MAIN_CONFIG_FILE } from './files.js';
export { parseIni, type IniFile, type IniEntry } from './ini.js';
export { parseOsloBool, parseOsloList } from './options.js';
