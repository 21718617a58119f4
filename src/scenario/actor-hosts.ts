/**
 * Where client actors may run, in one list: the schema and every --actors derive from it. Kept
 * apart from schema.ts so that the command line's option parsers stay light.
 */
export const ACTOR_HOSTS = ['threads', 'processes', 'broker'] as const;

export type ActorHostChoice = (typeof ACTOR_HOSTS)[number];

export function isActorHost(value: string): value is ActorHostChoice {
  return (ACTOR_HOSTS as readonly string[]).includes(value);
}
