// The event writer's worker entry from the TypeScript sources: tsx's hooks for this thread, then the real module.
import { register } from 'tsx/esm/api';
register();
await import('../../../src/boot/event-writer.ts');
