/**
 * The admin web UI. Mount it with app.route('/ui', uiRoutes({ … })).
 */
export { uiRoutes } from './app.js';
export type { UiDeps } from './context.js';
